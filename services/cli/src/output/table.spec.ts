import { renderTable } from './table';

describe('renderTable', () => {
  it('pads every column but the last to its widest cell', () => {
    expect(
      renderTable(
        ['A', 'LONG HEADER', 'C'],
        [
          ['xyz', '1', 'tail text'],
          ['q', '22', ''],
        ],
      ),
    ).toBe(['A    LONG HEADER  C', 'xyz  1            tail text', 'q    22'].join('\n'));
  });
});
