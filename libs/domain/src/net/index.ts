export * from './ipv4';
export * from './cidr';
export * from './mac';
export * from './dns';
export * from './labels';
export * from './port';
export * from './nats-url';
export * from './vni';
