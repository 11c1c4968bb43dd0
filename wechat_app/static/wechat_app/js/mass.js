/* The mass message form: only the recipients and content fields of the chosen audience and kind show. */
(function () {
  "use strict";
  var CONTENT = {text: ["text"], image: ["media_id"], voice: ["media_id"], mpvideo: ["media_id"],
                 mpnews: ["media_id", "send_ignore_reprint"], wxcard: ["card_id"]};

  function row(name) { return document.querySelector(".form-row.field-" + name); }

  function toggle(name, shown) {
    var node = row(name);
    if (node) node.classList.toggle("wx-hidden", !shown);
  }

  function update() {
    var audience = document.getElementById("id_audience");
    var kind = document.getElementById("id_kind");
    if (audience) {
      toggle("tag", audience.value === "tag");
      toggle("openids", audience.value === "list");
    }
    if (kind) {
      var shown = CONTENT[kind.value] || [];
      ["text", "media_id", "card_id", "send_ignore_reprint"].forEach(function (name) {
        toggle(name, shown.indexOf(name) !== -1);
      });
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    ["id_audience", "id_kind"].forEach(function (id) {
      var node = document.getElementById(id);
      if (node) node.addEventListener("change", update);
    });
    update();
  });
})();
