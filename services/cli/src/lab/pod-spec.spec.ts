import { describe, expect, it } from '@jest/globals';
import {
  defaultNamespaceLabels,
  endpointLabels,
  parseLabelArgument,
  parseNamedPortsArgument,
  parsePodsFile,
  relabel,
} from './pod-spec';

const invalid = expect.objectContaining({ code: 'InvalidArgument' });

describe('lab pod specs', () => {
  it('gives a namespaced pod its namespace and the namespace labels under ns.strata.io/', () => {
    expect(
      endpointLabels('np', { name: 'x-a', namespace: 'x', labels: { pod: 'a' } }, { ns: 'x' }),
    ).toEqual({
      'ns.strata.io/ns': 'x',
      pod: 'a',
      'strata.io/lab': 'np',
      'strata.io/namespace': 'x',
      'strata.io/pod': 'x-a',
    });
    expect(endpointLabels('np', { name: 'b', labels: {} }, { ns: 'x' })).toEqual({
      'strata.io/lab': 'np',
      'strata.io/pod': 'b',
    });
  });

  it('labels a namespace as Kubernetes does by default, under keys that are valid labels', () => {
    const labels = endpointLabels(
      'np',
      { name: 'y-a', namespace: 'y', labels: {} },
      defaultNamespaceLabels('y'),
    );
    expect(labels).toMatchObject({
      'ns.strata.io/ns': 'y',
      'kubernetes.io.ns.strata.io/metadata.name': 'y',
    });
    for (const [key, value] of Object.entries(labels)) {
      expect(() => parseLabelArgument(`${key}=${value}`)).not.toThrow();
    }
  });

  it('parses label arguments as kubectl label does: k=v sets, k- removes', () => {
    expect(parseLabelArgument('b=2, a=1')).toEqual({ set: { a: '1', b: '2' }, remove: [] });
    expect(parseLabelArgument('a=1,c-', true)).toEqual({ set: { a: '1' }, remove: ['c'] });
    expect(relabel({ a: '0', c: '3' }, { set: { a: '1' }, remove: ['c'] })).toEqual({ a: '1' });
    for (const bad of ['a', '=1', 'a=b c', 'c-']) {
      expect(() => parseLabelArgument(bad)).toThrow(invalid);
    }
  });

  it('parses named ports and rejects what is not name=PROTO/port', () => {
    expect(parseNamedPortsArgument('serve-80-tcp=TCP/80,dns=UDP/53')).toEqual([
      { name: 'serve-80-tcp', protocol: 'TCP', port: 80 },
      { name: 'dns', protocol: 'UDP', port: 53 },
    ]);
    for (const bad of ['http=ICMP/80', 'http=TCP/0', 'http=TCP/70000', 'Http=TCP/80', 'x']) {
      expect(() => parseNamedPortsArgument(bad)).toThrow(invalid);
    }
  });

  it('reads a pods file, as a list or with namespaces, and names what is wrong', () => {
    const pods = [{ name: 'x-a', node: 'n1', namespace: 'x', labels: { pod: 'a' } }];
    expect(parsePodsFile(pods, ['n1']).pods).toEqual([
      { name: 'x-a', node: 'n1', namespace: 'x', labels: { pod: 'a' }, namedPorts: [] },
    ]);
    expect(parsePodsFile({ namespaces: { x: { team: 'red' } }, pods }, ['n1']).namespaces).toEqual({
      x: { team: 'red' },
    });
    const cases: [unknown, RegExp][] = [
      [{ pods: 'no' }, /no `pods` list/],
      [[{ name: 'n1p1', node: 'n1' }], /n<i>p<j>/],
      [[{ name: 'a', node: 'n9' }], /pods\[0\]\.node/],
      [
        [
          { name: 'a', node: 'n1' },
          { name: 'a', node: 'n1' },
        ],
        /pod a twice/,
      ],
      [[{ name: 'a', node: 'n1', labels: { 'bad key!': 'v' } }], /label key/],
      [
        [{ name: 'a', node: 'n1', namedPorts: [{ name: 'p', protocol: 'TCP', port: 0 }] }],
        /namedPorts\[0\]/,
      ],
      [{ namespaces: { X: {} }, pods: [] }, /namespace "X"/],
    ];
    for (const [file, message] of cases) {
      expect(() => parsePodsFile(file, ['n1'])).toThrow(message);
    }
  });
});
