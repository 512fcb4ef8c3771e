// The JavaScript half of internal/d1batch: one D1 batch for one call from Go.
// Go hands the statements over as one JSON text and reads the results back as
// one JSON text, instead of building the prepared statements from Go (two
// calls a statement, one value per argument) and reading each row's columns
// one by one: a syscall/js value is a Go object with a finalizer, made for
// every string crossing over (docs/BENCHMARKS.md, Workers).
//
// Statements: [[sql, arg, ...], ...]; an argument is a string, a number, null,
// or {"b": base64} for bytes. Results: [{"c": changes, "r": rows}, ...], one
// per statement, rows as D1 gives them (column name to value), through
// JSON.stringify: a non-finite number read back would become null (the key
// server's tables hold none; Go refuses to write one), and a BLOB column an
// array, which Go refuses (the key server reads bytes as hex(...)).
function arg(a) {
  if (a === null || typeof a !== "object") return a;
  const bin = atob(a.b);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

async function batch(db, statements) {
  const stmts = JSON.parse(statements).map(([sql, ...args]) => db.prepare(sql).bind(...args.map(arg)));
  const results = await db.batch(stmts);
  return JSON.stringify(results.map((r) => ({ c: r.meta?.changes ?? 0, r: r.results ?? [] })));
}

globalThis.waxsealD1 = { batch };
