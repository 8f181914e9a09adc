export * from './model';
export * from './policy';
export * from './rule-id';
export * from './kubernetes';
