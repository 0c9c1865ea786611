// A virtualised table: a scroller of fixed-height rows in which only the rows in
// view (and a few either side) exist as elements, moved into place with a
// transform and re-filled as it scrolls. At 10,000 records the page holds some
// 50 row elements, and a frame touches only the cells whose text changed.

const OVERSCAN = 6;

export class VirtualTable {
  #scroller;
  #spacer;
  #columns;
  #rowHeight;
  /** Row elements, each with its cells and the text last written to each. */
  #pool = [];
  #rows = [];
  #viewport = 0;

  /**
   * columns: [{ key, title, className, text(record, now), tone?(record) }];
   * tone answers a class for the cell (a phase colour).
   */
  constructor({ head, scroller, spacer, columns, rowHeight, onSort }) {
    this.#scroller = scroller;
    this.#spacer = spacer;
    this.#columns = columns;
    this.#rowHeight = rowHeight;
    for (const column of columns) {
      const cell = document.createElement('button');
      cell.type = 'button';
      cell.className = `cell ${column.className}`;
      cell.setAttribute('role', 'columnheader');
      cell.dataset.key = column.key;
      cell.textContent = column.title;
      cell.addEventListener('click', () => onSort(column.key));
      head.append(cell);
    }
    new ResizeObserver(() => {
      this.#viewport = scroller.clientHeight;
    }).observe(scroller);
    this.#viewport = scroller.clientHeight;
  }

  /** Marks the sorted column in the header. */
  showSort(key, descending) {
    for (const cell of this.#scroller.parentElement.querySelectorAll('.head .cell')) {
      cell.removeAttribute('aria-sort');
      if (cell.dataset.key === key) cell.setAttribute('aria-sort', descending ? 'descending' : 'ascending');
    }
  }

  /** The rows to show, in order (the caller filters and sorts). */
  setRows(rows) {
    this.#rows = rows;
    this.#spacer.style.height = `${rows.length * this.#rowHeight}px`;
  }

  /** Draws the rows in view at server time `now`. */
  render(now) {
    const first = Math.max(0, Math.floor(this.#scroller.scrollTop / this.#rowHeight) - OVERSCAN);
    const wanted = Math.ceil(this.#viewport / this.#rowHeight) + 2 * OVERSCAN;
    const last = Math.min(this.#rows.length, first + wanted);
    while (this.#pool.length < wanted) this.#pool.push(this.#makeRow());
    for (let i = 0; i < this.#pool.length; i++) {
      const row = this.#pool[i];
      const index = first + i;
      if (index >= last) {
        if (!row.element.hidden) row.element.hidden = true;
        continue;
      }
      if (row.element.hidden) row.element.hidden = false;
      if (row.index !== index) {
        row.index = index;
        row.element.style.transform = `translateY(${index * this.#rowHeight}px)`;
        row.element.setAttribute('aria-rowindex', String(index + 2));
      }
      this.#fill(row, this.#rows[index], now);
    }
  }

  #makeRow() {
    const element = document.createElement('div');
    element.className = 'row';
    element.setAttribute('role', 'row');
    element.hidden = true;
    const cells = this.#columns.map((column) => {
      const cell = document.createElement('span');
      cell.className = `cell ${column.className}`;
      cell.setAttribute('role', 'cell');
      element.append(cell);
      return { element: cell, text: '', tone: '' };
    });
    this.#spacer.append(element);
    return { element, cells, index: -1, key: '' };
  }

  #fill(row, record, now) {
    if (row.key !== record.key) {
      row.key = record.key;
      row.element.dataset.key = record.key;
    }
    for (let c = 0; c < this.#columns.length; c++) {
      const column = this.#columns[c];
      const cell = row.cells[c];
      const text = column.text(record, now);
      if (cell.text !== text) {
        cell.text = text;
        cell.element.textContent = text;
      }
      if (column.tone !== undefined) {
        const tone = column.tone(record);
        if (cell.tone !== tone) {
          cell.tone = tone;
          cell.element.className = `cell ${column.className} ${tone}`;
        }
      }
    }
  }
}
