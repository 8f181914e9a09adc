import { IdentityHolders, type FoldedEvent } from './identity-holders';

const GRACE = 1_000;
let position = 0;
const event = (type: string, data: Record<string, unknown>, recordedAtMs: number): FoldedEvent => ({
  type,
  data,
  position: ++position,
  recordedAtMs,
});
const allocated = (identity: number, key: string, at: number) =>
  event('IdentityAllocated', { identity, key, labels: { app: key } }, at);
const created = (uid: string, identity: number, at: number) =>
  event('EndpointCreated', { uid, identity, labels: {} }, at);
const relabelled = (uid: string, identity: number, at: number) =>
  event('EndpointLabelsUpdated', { uid, identity, labels: {} }, at);
const deleted = (uid: string, at: number) => event('EndpointDeleted', { uid }, at);

function fold(events: FoldedEvent[], floorMs = 0): IdentityHolders {
  const holders = new IdentityHolders(floorMs);
  for (const e of events) holders.apply(e);
  return holders;
}

describe('IdentityHolders', () => {
  it('counts the endpoints holding each identity', () => {
    const holders = fold([
      allocated(256, 'a', 0),
      created('ep-1', 256, 1),
      created('ep-2', 256, 2),
      allocated(257, 'b', 3),
      created('ep-3', 257, 4),
    ]);
    expect([...holders.get(256)!.holders].sort()).toEqual(['ep-1', 'ep-2']);
    expect([...holders.get(257)!.holders]).toEqual(['ep-3']);
    expect(holders.due(1e9, GRACE)).toEqual([]);
    expect(holders.nextDue(GRACE)).toBeUndefined();
  });

  it.each([
    {
      name: 'an identity allocated and never used falls due a grace after its allocation',
      events: () => [allocated(256, 'a', 100)],
      idleSince: 100,
    },
    {
      name: 'the last holder deleted starts the grace',
      events: () => [allocated(256, 'a', 0), created('ep-1', 256, 1), deleted('ep-1', 500)],
      idleSince: 500,
    },
    {
      name: 'a relabel moves the holder to the new identity',
      events: () => [
        allocated(256, 'a', 0),
        created('ep-1', 256, 1),
        allocated(257, 'b', 600),
        relabelled('ep-1', 257, 700),
      ],
      idleSince: 700,
    },
  ])('$name', ({ events, idleSince }) => {
    const holders = fold(events());
    expect(holders.get(256)!.idleSince).toBe(idleSince);
    expect(holders.nextDue(GRACE)).toBe(idleSince + GRACE);
    expect(holders.due(idleSince + GRACE - 1, GRACE)).toEqual([]);
    expect(holders.due(idleSince + GRACE, GRACE).map((e) => e.identity)).toEqual([256]);
  });

  it('keeps an identity held while any endpoint holds it', () => {
    const holders = fold([
      allocated(256, 'a', 0),
      created('ep-1', 256, 1),
      created('ep-2', 256, 2),
      deleted('ep-1', 3),
    ]);
    expect(holders.get(256)!.idleSince).toBeUndefined();
  });

  it('restarts the grace on an acquire of an unheld identity, not of a held one', () => {
    const holders = fold([allocated(256, 'a', 0), allocated(257, 'b', 0), created('x', 257, 1)]);
    holders.acquired(256, 800);
    holders.acquired(257, 800);
    expect(holders.due(GRACE, GRACE)).toEqual([]);
    expect(holders.get(256)!.idleSince).toBe(800);
    expect(holders.get(257)!.idleSince).toBeUndefined();
  });

  it('forgets a released identity, and only the allocation the release names', () => {
    const holders = fold([
      allocated(256, 'a', 0),
      event('IdentityReleased', { identity: 256, key: 'a' }, 5),
      allocated(256, 'b', 6),
      event('IdentityReleased', { identity: 256, key: 'a' }, 7),
    ]);
    expect(holders.get(256)).toMatchObject({ key: 'b', idleSince: 6 });
    expect(holders.size).toBe(1);
  });

  it('lifts times before the floor to it (a restarted replica waits a full grace)', () => {
    const holders = fold([allocated(256, 'a', 0), created('e', 256, 1), deleted('e', 2)], 5_000);
    expect(holders.get(256)!.idleSince).toBe(5_000);
  });

  it('ignores endpoint events without an identity and other events', () => {
    const holders = fold([
      allocated(256, 'a', 0),
      event('EndpointCreated', { uid: 'old', labels: {} }, 1),
      event('EndpointMoved', { uid: 'old', node: 'n2' }, 2),
      deleted('old', 3),
    ]);
    expect(holders.get(256)).toMatchObject({ idleSince: 0 });
    expect(holders.get(256)!.holders.size).toBe(0);
  });
});
