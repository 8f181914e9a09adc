import { Module, type DynamicModule } from '@nestjs/common';
import { CreateClusterHandler } from './create-cluster/create-cluster.handler';
import { CreateEndpointHandler } from './create-endpoint/create-endpoint.handler';
import { CreateSegmentHandler } from './create-segment/create-segment.handler';
import { CreateServiceHandler } from './create-service/create-service.handler';
import { DeleteClusterHandler } from './delete-cluster/delete-cluster.handler';
import { DeleteEndpointHandler } from './delete-endpoint/delete-endpoint.handler';
import { DeleteNodeHandler } from './delete-node/delete-node.handler';
import { DeleteSegmentHandler } from './delete-segment/delete-segment.handler';
import { DeleteServiceHandler } from './delete-service/delete-service.handler';
import { GetClusterHandler } from './get-cluster/get-cluster.handler';
import { GetEndpointHandler } from './get-endpoint/get-endpoint.handler';
import { GetNodeHandler } from './get-node/get-node.handler';
import { GetSegmentHandler } from './get-segment/get-segment.handler';
import { GetServiceHandler } from './get-service/get-service.handler';
import { ListClustersHandler } from './list-clusters/list-clusters.handler';
import { ListEndpointsHandler } from './list-endpoints/list-endpoints.handler';
import { ListNodesHandler } from './list-nodes/list-nodes.handler';
import { ListSegmentsHandler } from './list-segments/list-segments.handler';
import { ListServicesHandler } from './list-services/list-services.handler';
import { MarkNodeDownHandler } from './mark-node-down/mark-node-down.handler';
import { MoveEndpointHandler } from './move-endpoint/move-endpoint.handler';
import { NodeLiveness } from './node-liveness/node-liveness';
import { NodeLivenessWatchdog } from './node-liveness/node-liveness.watchdog';
import { ConfigReadModel } from './read-model/config-read-model';
import { RecordHeartbeatHandler } from './record-heartbeat/record-heartbeat.handler';
import { RegisterNodeHandler } from './register-node/register-node.handler';
import { RelabelEndpointHandler } from './relabel-endpoint/relabel-endpoint.handler';
import { Clock } from './shared/clock';
import { IpamClient } from './shared/ipam-client';
import { KeyedLock } from './shared/keyed-lock';

/**
 * Every use case of the config service, one folder each. A handler serves its NATS subject and
 * its REST route with one method (see ./transport/command-route.ts), so the same classes are
 * the controllers of the NATS service and of the HTTP API.
 */
export const CONFIG_HANDLERS = [
  CreateSegmentHandler,
  ListSegmentsHandler,
  GetSegmentHandler,
  DeleteSegmentHandler,
  CreateEndpointHandler,
  ListEndpointsHandler,
  GetEndpointHandler,
  RelabelEndpointHandler,
  MoveEndpointHandler,
  DeleteEndpointHandler,
  RegisterNodeHandler,
  RecordHeartbeatHandler,
  MarkNodeDownHandler,
  ListNodesHandler,
  GetNodeHandler,
  DeleteNodeHandler,
  CreateServiceHandler,
  ListServicesHandler,
  GetServiceHandler,
  DeleteServiceHandler,
  CreateClusterHandler,
  ListClustersHandler,
  GetClusterHandler,
  DeleteClusterHandler,
] as const;

/**
 * What the handlers depend on besides the store and the DeciderRunner (which the Strata core
 * module provides): one instance each, shared by the NATS service and the HTTP API.
 */
export const CONFIG_SHARED_PROVIDERS = [
  ConfigReadModel,
  KeyedLock,
  IpamClient,
  Clock,
  NodeLiveness,
] as const;

/** What the config module is built from; the rest Nest constructs. */
export interface ConfigModuleOptions {
  readonly ipam: IpamClient;
  readonly clock: Clock;
  readonly liveness: NodeLiveness;
}

@Module({})
export class ConfigModule {
  /** The handlers, their shared providers, and the liveness watchdog (NATS app only). */
  static forRoot(options: ConfigModuleOptions): DynamicModule {
    return {
      module: ConfigModule,
      controllers: [...CONFIG_HANDLERS],
      providers: [
        ConfigReadModel,
        KeyedLock,
        { provide: IpamClient, useValue: options.ipam },
        { provide: Clock, useValue: options.clock },
        { provide: NodeLiveness, useValue: options.liveness },
        NodeLivenessWatchdog,
      ],
    };
  }
}
