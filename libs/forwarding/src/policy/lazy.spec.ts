import { decidePolicy, type PolicySpecInput } from '@strata/domain';
import { applyEvents, createForwardingState, digest } from '../forwarding-state';
import { EventLog } from '../testing/event-log';

/**
 * The lazy compile: events only mark what they may change; reading `tables` or `takeChanges()`
 * compiles, lists exactly the policy keys that changed, and leaves the same tables as a state
 * that folded everything at once.
 */

const SELF = 'node-1';

function endpoint(uid: string, node: string, ip: string, app: string, identity: number) {
  return {
    type: 'EndpointCreated',
    data: {
      uid,
      segmentId: 's1',
      node,
      ip,
      mac: node === '' ? '' : '0a:58:0a:00:00:01',
      labels: { app },
      kind: node === '' ? 'external' : 'pod',
      identity,
      namedPorts: [],
    },
  };
}

function policy(policyId: string, spec: Partial<PolicySpecInput>) {
  return decidePolicy(
    {
      type: 'CreatePolicy',
      data: { policyId, name: policyId, tier: 'application', priority: 10, selector: {}, ...spec },
    },
    { status: 'empty' },
  );
}

const DB_FROM_WEB = policy('db', {
  selector: { matchLabels: { app: 'db' } },
  ingress: [{ action: 'allow', peers: [{ selector: { matchLabels: { app: 'web' } } }] }],
});

function base(): EventLog {
  return new EventLog()
    .append('endpoint-db', endpoint('db', SELF, '10.0.0.1', 'db', 300))
    .append('endpoint-web', endpoint('web', 'node-2', '10.0.0.2', 'web', 301))
    .append('endpoint-api', endpoint('api', SELF, '10.0.0.3', 'api', 302))
    .append('policy-db', ...DB_FROM_WEB);
}

describe('the lazy policy compile', () => {
  it('compiles when the tables are read, and lists the keys it wrote', () => {
    const state = applyEvents(createForwardingState(SELF), base().events);
    const changes = state.takeChanges();
    expect([...changes.policy].sort()).toEqual(['i:300:*:*', 'i:300:301:*']);
    expect(state.tables.policy.get('i:300:*:*')).toEqual({
      verdict: 'deny',
      rule: 1,
      stagedVerdict: 'deny',
      stagedRule: 1,
    });
    expect(state.tables.policy.get('i:300:301:*')).toMatchObject({ verdict: 'allow' });
    expect([...changes.rules]).toHaveLength(1);
    expect(state.takeChanges().policy.size).toBe(0);
  });

  it('recompiles nothing for an endpoint elsewhere that joins an identity that exists', () => {
    const state = applyEvents(createForwardingState(SELF), base().events);
    state.takeChanges();
    state.apply({
      stream: 'endpoint-web2',
      revision: 0,
      position: 1000,
      ...endpoint('web2', 'node-3', '10.0.0.4', 'web', 301),
    });
    const changes = state.takeChanges();
    expect(changes.policy.size).toBe(0);
    expect([...changes.remote]).toEqual(['10.0.0.4']);
  });

  it('gives a new peer identity rows only where a rule selects it', () => {
    const state = applyEvents(createForwardingState(SELF), base().events);
    state.takeChanges();
    state.apply({
      stream: 'endpoint-web3',
      revision: 0,
      position: 1000,
      ...endpoint('web3', 'node-3', '10.0.0.5', 'web', 303),
    });
    state.apply({
      stream: 'endpoint-x',
      revision: 0,
      position: 1001,
      ...endpoint('x', 'node-3', '10.0.0.6', 'other', 304),
    });
    // web3 holds an identity of its own (as if its other labels differed): db's rule selects it.
    expect([...state.takeChanges().policy]).toEqual(['i:300:303:*']);
  });

  it('touches only the local identities a policy change selects', () => {
    const state = applyEvents(createForwardingState(SELF), base().events);
    state.takeChanges();
    const [created] = policy('api', {
      selector: { matchLabels: { app: 'api' } },
      directions: ['egress'],
    });
    state.apply({ stream: 'policy-api', revision: 0, position: 1000, ...created });
    expect([...state.takeChanges().policy]).toEqual(['e:302:*:*']);
    state.apply({
      stream: 'policy-api',
      revision: 1,
      position: 1001,
      type: 'PolicyDeleted',
      data: { policyId: 'api' },
    });
    const changes = state.takeChanges();
    expect([...changes.policy]).toEqual(['e:302:*:*']);
    expect(state.tables.policy.has('e:302:*:*')).toBe(false);
  });

  it('drops the rows of a local identity that leaves the node', () => {
    const state = applyEvents(createForwardingState(SELF), base().events);
    state.takeChanges();
    state.apply({
      stream: 'endpoint-db',
      revision: 1,
      position: 1000,
      type: 'EndpointMoved',
      data: { uid: 'db', node: 'node-2', previousNode: SELF },
    });
    expect(state.takeChanges().policy.size).toBe(2);
    expect(state.tables.policy.size).toBe(0);
  });

  it('folded step by step, read after every event, ends where one fold ends', () => {
    const log = base()
      .append('endpoint-ext', endpoint('ext', '', '192.0.2.9', 'web', 305))
      .append(
        'policy-cidr',
        ...policy('cidr', {
          selector: { matchLabels: { app: 'api' } },
          egress: [{ action: 'deny', peers: [{ cidr: '192.0.2.0/24' }] }],
        }),
      )
      .append('endpoint-web', {
        type: 'EndpointLabelsUpdated',
        data: { uid: 'web', labels: { app: 'db' }, identity: 300 },
      })
      .append('endpoint-db', { type: 'EndpointDeleted', data: { uid: 'db' } })
      .append('policy-db', { type: 'PolicyDeleted', data: { policyId: 'db' } });
    const stepwise = createForwardingState(SELF);
    for (const event of log.events) {
      stepwise.apply(event);
      stepwise.takeChanges();
    }
    expect(digest(stepwise)).toBe(digest(applyEvents(createForwardingState(SELF), log.events)));
    expect(stepwise.tables.prefixes.get('192.0.2.9/32')).toEqual({ identity: 305 });
  });

  it('rejects malformed policy and endpoint payloads, and reads a schema-v1 policy', () => {
    const state = applyEvents(createForwardingState(SELF), base().events);
    const before = digest(state);
    const at = (stream: string, type: string, data: unknown, revision = 5) =>
      state.apply({ stream, revision, position: 2000 + revision, type, data });
    expect(at('policy-bad', 'PolicyCreated', { policyId: 'bad', name: 'bad' })).toBe('rejected');
    expect(at('policy-db', 'PolicyUpdated', { ...DB_FROM_WEB[0].data, tier: 'top' })).toBe(
      'rejected',
    );
    expect(at('policy-x', 'PolicyDeleted', { policyId: 7 })).toBe('rejected');
    const created = endpoint('bad', SELF, '10.0.0.9', 'db', 300).data;
    expect(at('endpoint-bad', 'EndpointCreated', { ...created, kind: 'vm' })).toBe('rejected');
    expect(at('endpoint-bad', 'EndpointCreated', { ...created, namedPorts: [{ name: 'x' }] })).toBe(
      'rejected',
    );
    expect(digest(state)).toBe(before);
    // v1: one direction, one action, selector peers, no rules.
    const v1 = {
      policyId: 'old',
      name: 'old',
      tier: 'platform',
      priority: 1,
      action: 'deny',
      direction: 'ingress',
      selector: { matchLabels: { app: 'db' } },
      peers: [{ matchLabels: { app: 'web' } }],
      ports: [{ protocol: 'TCP', port: 22, endPort: 22 }],
      staged: false,
    };
    expect(at('policy-old', 'PolicyCreated', v1, 0)).toBe('applied');
    expect(state.tables.policy.get('i:300:301:6:22/16')).toMatchObject({ verdict: 'deny' });
  });
});
