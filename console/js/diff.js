// A line diff (longest common subsequence) of two texts, shown as unified hunks with three
// lines of context. Program documents are a few hundred lines, so the quadratic table is
// small; beyond `cellsMax` cells the diff falls back to "everything changed".
const cellsMax = 4_000_000;

export function diffLines(before, after) {
  const a = before.split('\n');
  const b = after.split('\n');
  // Common head and tail need no table.
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) { endA--; endB--; }
  const midA = a.slice(start, endA);
  const midB = b.slice(start, endB);
  const ops = a.slice(0, start).map((line) => ({ kind: 'same', line }));
  if (midA.length * midB.length > cellsMax) {
    ops.push(...midA.map((line) => ({ kind: 'del', line })), ...midB.map((line) => ({ kind: 'add', line })));
  } else {
    const n = midA.length;
    const m = midB.length;
    const lengths = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        lengths[i][j] = midA[i] === midB[j] ? lengths[i + 1][j + 1] + 1 : Math.max(lengths[i + 1][j], lengths[i][j + 1]);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && midA[i] === midB[j]) { ops.push({ kind: 'same', line: midA[i] }); i++; j++; }
      // On a tie the removal comes first, as in a unified diff.
      else if (i < n && (j === m || lengths[i + 1][j] >= lengths[i][j + 1])) { ops.push({ kind: 'del', line: midA[i] }); i++; }
      else { ops.push({ kind: 'add', line: midB[j] }); j++; }
    }
  }
  ops.push(...a.slice(endA).map((line) => ({ kind: 'same', line })));
  return ops;
}

// Groups operations into hunks: [{header, lines: [{kind, text}]}].
export function hunks(ops, context = 3) {
  const result = [];
  let lineA = 1;
  let lineB = 1;
  const positions = ops.map((op) => {
    const at = { a: lineA, b: lineB };
    if (op.kind !== 'add') lineA++;
    if (op.kind !== 'del') lineB++;
    return at;
  });
  let i = 0;
  while (i < ops.length) {
    if (ops[i].kind === 'same') { i++; continue; }
    const first = Math.max(0, i - context);
    let last = i;
    // Extend while the next change is within 2 × context lines.
    for (let k = i; k < ops.length; k++) {
      if (ops[k].kind !== 'same') last = k;
      else if (k - last > context * 2) break;
    }
    const end = Math.min(ops.length - 1, last + context);
    const slice = ops.slice(first, end + 1);
    const countA = slice.filter((op) => op.kind !== 'add').length;
    const countB = slice.filter((op) => op.kind !== 'del').length;
    result.push({
      header: `@@ -${positions[first].a},${countA} +${positions[first].b},${countB} @@`,
      lines: slice.map((op) => ({ kind: op.kind, text: `${op.kind === 'add' ? '+' : op.kind === 'del' ? '-' : ' '} ${op.line}` })),
    });
    i = end + 1;
  }
  return result;
}

// A stable text of a JSON value: keys sorted, two spaces, so that two versions line up.
export function canonicalJson(value) {
  const sort = (v) => {
    if (Array.isArray(v)) return v.map(sort);
    if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sort(v[k])]));
    return v;
  };
  return JSON.stringify(sort(value), null, 2);
}
