// Billion Songs: progressive enhancements only; every page works without this file.
(function () {
  "use strict";

  // Share: the Web Share API where the browser has it (phones), else copy the link.
  function setupShare() {
    var button = document.querySelector("[data-share]");
    if (!button) return;
    var label = button.querySelector("[data-share-label]");
    button.addEventListener("click", function () {
      var url = button.getAttribute("data-url") || location.href;
      var title = button.getAttribute("data-title") || document.title;
      if (navigator.share) {
        navigator.share({ title: title, url: url }).catch(function () {});
        return;
      }
      var done = function () {
        label.textContent = "Link copied";
        button.classList.add("is-done");
        setTimeout(function () { label.textContent = "Share"; button.classList.remove("is-done"); }, 2000);
      };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(url).then(done, function () { window.prompt("Copy this link:", url); });
      } else {
        window.prompt("Copy this link:", url);
      }
    });
  }

  // The header is the same for everyone (pages are cached); a signed-in visitor's
  // name is filled in from /api/session, asked only when the hint cookie is there.
  function setupAccount() {
    var link = document.querySelector("[data-account]");
    if (!link || document.cookie.indexOf("bs_signed_in=1") === -1) return;
    fetch("/api/session", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data || !data.user) return;
        link.textContent = data.user.name;
        link.setAttribute("href", "/my/votes");
        link.classList.add("is-signed-in");
      })
      .catch(function () {});
  }

  document.addEventListener("DOMContentLoaded", function () {
    setupShare();
    setupAccount();
  });
})();
