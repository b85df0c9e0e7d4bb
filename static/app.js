// Sends the CSRF token (from <meta name="csrf-token">) with every htmx
// request, so forms and hx-post buttons pass the server's CSRF check.
document.addEventListener("htmx:configRequest", function (evt) {
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (meta && meta.content) {
    evt.detail.headers["X-CSRF-Token"] = meta.content;
  }
});

// A flash message can be dismissed with its close button.
document.addEventListener("click", function (evt) {
  var btn = evt.target.closest("[data-dismiss]");
  if (btn) {
    var box = btn.closest(".flash");
    if (box) box.remove();
  }
});

// A copy button copies the text of the element its data-copy names (a new
// service key's secret) and says so on itself for a moment.
document.addEventListener("click", function (evt) {
  var btn = evt.target.closest("[data-copy]");
  if (!btn || !navigator.clipboard) return;
  var src = document.getElementById(btn.getAttribute("data-copy"));
  if (!src) return;
  navigator.clipboard.writeText(src.textContent.trim()).then(function () {
    var label = btn.textContent;
    btn.textContent = btn.getAttribute("data-copied") || label;
    setTimeout(function () { btn.textContent = label; }, 2000);
  });
});

// A form that moves money or access (data-confirm) asks first, naming what
// it does; cancelling stops the submit before htmx or the browser sends it.
document.addEventListener("submit", function (evt) {
  var msg = evt.target.getAttribute && evt.target.getAttribute("data-confirm");
  if (msg && !window.confirm(msg)) {
    evt.preventDefault();
    evt.stopImmediatePropagation();
  }
}, true);

// On phones every table row is a card (app.css); each cell is labelled with
// its column's header, copied here into data-label unless the template set
// one. Headers spanning columns label each column they span. Runs on load
// and after every htmx swap (new rows).
function labelTableCells() {
  document.querySelectorAll("table").forEach(function (table) {
    var head = table.querySelector("thead tr:last-child");
    if (!head) return;
    var names = [];
    Array.prototype.forEach.call(head.children, function (th) {
      for (var i = 0; i < (th.colSpan || 1); i++) names.push(th.textContent.trim());
    });
    table.querySelectorAll("tbody > tr, tfoot > tr").forEach(function (tr) {
      var col = 0;
      Array.prototype.forEach.call(tr.children, function (cell) {
        var span = cell.colSpan || 1;
        if (span === 1 && names[col] && !cell.hasAttribute("data-label")) cell.setAttribute("data-label", names[col]);
        col += span;
      });
    });
  });
}
document.addEventListener("DOMContentLoaded", labelTableCells);
document.addEventListener("htmx:afterSettle", labelTableCells);

// A phone payment's hand-off page goes on to WeChat Pay or Alipay at once by
// clicking its link (data-autofollow), so that the link's referrerpolicy
// applies; the link stays for a browser that does not follow.
document.addEventListener("DOMContentLoaded", function () {
  var a = document.querySelector("a[data-autofollow]");
  if (a) a.click();
});
