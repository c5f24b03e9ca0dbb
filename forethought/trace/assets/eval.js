"use strict";
// The evaluation page: rows are rendered on the server; this adds filtering and sorting.
(function () {
  const table = document.getElementById("instances");
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  const filter = document.getElementById("filter");
  const shown = document.getElementById("shown");
  function apply() {
    const v = filter.value;
    let n = 0;
    for (const r of rows) {
      const ok = v === "all" || (v === "failed" ? !["ok", "pending"].includes(r.dataset.status) : r.dataset.verdict === v);
      r.style.display = ok ? "" : "none";
      if (ok) n++;
    }
    shown.textContent = `${n} of ${rows.length} instances`;
  }
  filter.addEventListener("change", apply);
  const heads = Array.from(table.tHead.rows[0].cells);
  heads.forEach((th, col) => {
    th.classList.add("sortable");
    let up = true;
    th.addEventListener("click", () => {
      const key = (r) => { const t = r.cells[col].textContent.trim(); const x = parseFloat(t.replace(/^\$/, "")); return isNaN(x) ? t : x; };
      const sorted = rows.slice().sort((a, b) => { const x = key(a), y = key(b); return (x < y ? -1 : x > y ? 1 : 0) * (up ? 1 : -1); });
      up = !up;
      for (const r of sorted) body.appendChild(r);
    });
  });
  apply();
  document.documentElement.dataset.built = String(performance.now());
})();
