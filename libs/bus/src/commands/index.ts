export * from './schema';
export * from './protocol';
export * from './client';
export * from './ipam';
export * from './config';
export * from './discovery';
export * from './policy';
export * from './analytics';
