/* 变更影响: "查看变更影响 / Preview impact" posts the change form as it stands (unsaved) to the read-only impact view
 * and shows the answer under the form. The form itself is left as it is: nothing is saved, its values stay, and
 * the user saves with the admin's own buttons. */
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-impact-url]");
    if (!button) return;
    event.preventDefault();
    var form = button.form || document.querySelector("#content-main form");
    var box = document.getElementById("change-impact");
    box.setAttribute("aria-busy", "true");
    box.dataset.state = "loading";
    button.disabled = true;
    fetch(button.dataset.impactUrl, {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      headers: { "X-Requested-With": "XMLHttpRequest" },
    })
      .then(function (response) {
        return response.text().then(function (html) {
          box.innerHTML = response.status === 403 ? "<p class=\"errornote\">403</p>" : html;
          box.dataset.state = response.ok ? "ok" : "invalid";
        });
      })
      .catch(function () {
        box.innerHTML = "<p class=\"errornote\">" + button.dataset.failed + "</p>";
        box.dataset.state = "failed";
      })
      .finally(function () {
        box.removeAttribute("aria-busy");
        button.disabled = false;
        box.scrollIntoView({ block: "start" });
      });
  });
})();
