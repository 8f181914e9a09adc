export * from './schema';
export * from './protocol';
export * from './client';
export * from './ipam';
export * from './config';
