// DealDesk's only JavaScript. Every page works without it; this adds small comforts.
// Served as a static file so the pages run under "script-src 'self'".
"use strict";

// Forms marked data-confirm ask before they submit (e.g. removing a member).
document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form.getAttribute && form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

// A textarea with data-counter="ID" shows how many characters are left in element ID.
function updateCounter(field) {
  var output = document.getElementById(field.getAttribute("data-counter"));
  var limit = parseInt(field.getAttribute("maxlength"), 10);
  if (!output || !limit) {
    return;
  }
  var left = limit - field.value.length;
  output.textContent = left < 200 ? left + " characters left" : "";
}

document.addEventListener("input", function (event) {
  if (event.target.hasAttribute && event.target.hasAttribute("data-counter")) {
    updateCounter(event.target);
  }
});

document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-counter]").forEach(updateCounter);
});
