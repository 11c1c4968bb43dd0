/* Copy buttons: plain values from data-copy-text; secrets fetched on demand (POST, never in the page). */
(function () {
  "use strict";
  function csrf() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    if (input) return input.value;
    var m = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }
  function copy(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    var area = document.createElement("textarea");
    area.value = text; area.setAttribute("readonly", ""); area.style.position = "fixed"; area.style.opacity = "0";
    document.body.appendChild(area); area.select();
    try { document.execCommand("copy"); } finally { document.body.removeChild(area); }
    return Promise.resolve();
  }
  function done(button) {
    var label = button.textContent;
    button.classList.add("done"); button.textContent = "Copied ✓";
    setTimeout(function () { button.classList.remove("done"); button.textContent = label; }, 1500);
  }
  document.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest(".wx-copy");
    if (!button) return;
    e.preventDefault();
    if (button.hasAttribute("data-copy-text")) {
      copy(button.getAttribute("data-copy-text")).then(function () { done(button); });
      return;
    }
    var panel = button.closest("[data-secret-url]");
    var url = panel.getAttribute("data-secret-url").replace("NAME", button.getAttribute("data-copy-secret"));
    fetch(url, { method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrf() } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (data) { return copy(data.value); })
      .then(function () { done(button); })
      .catch(function () { button.textContent = "Not allowed"; });
  });
})();
