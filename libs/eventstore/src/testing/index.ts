export { testEventStore, type ConformanceTarget } from './conformance';
