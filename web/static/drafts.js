// Drafts: what is typed into a deal's note or edit form is kept in this tab's sessionStorage until a page
// says the server saved it, and put back into the form when its page loads again.
//
// * A form marked data-draft-key="u<user>:<form>:<deal>" is kept under that key, so text goes back to the
//   form of the deal (and person) it was typed for, never to "whatever deal is current now".
// * A page showing data-draft-saved="<key>" (the confirmation after a write) clears the key.
// * Only a pristine form (every field as the server rendered it) is filled in: the server's own copy of a
//   draft (kept across a sign-in, or a form sent back with errors) and anything typed since always win.
// sessionStorage, not localStorage: the text stays with the tab and goes when the tab is closed, so a
// shared computer does not show one person's unsent text to the next. Progressive enhancement under the
// strict CSP (no inline script): every form works without this file.
"use strict";

(function () {
  var PREFIX = "dealdesk:draft:";

  function store() {
    try {
      return window.sessionStorage;
    } catch (error) {
      return null; // storage disabled: the forms simply work without drafts
    }
  }

  function draftFields(form) {
    return Array.prototype.filter.call(form.elements, function (element) {
      return element.name && element.name !== "csrf_token" && element.type !== "hidden" &&
        element.type !== "submit" && element.type !== "button";
    });
  }

  function renderedValue(element) {
    if (element.tagName === "SELECT") {
      var chosen = Array.prototype.find.call(element.options, function (option) { return option.defaultSelected; });
      return chosen ? chosen.value : (element.options[0] ? element.options[0].value : "");
    }
    return element.defaultValue;
  }

  function isPristine(form) {
    return draftFields(form).every(function (element) { return element.value === renderedValue(element); });
  }

  function read(key) {
    var storage = store();
    if (!storage) {
      return null;
    }
    try {
      var draft = JSON.parse(storage.getItem(PREFIX + key) || "null");
      return draft && typeof draft === "object" ? draft : null;
    } catch (error) {
      return null;
    }
  }

  function forget(key) {
    var storage = store();
    if (storage) {
      storage.removeItem(PREFIX + key);
    }
  }

  function remember(form) {
    var storage = store();
    var key = form.getAttribute("data-draft-key");
    if (!storage || !key) {
      return;
    }
    if (isPristine(form)) {
      forget(key); // nothing of the person's own in it any more
      return;
    }
    var fields = {};
    draftFields(form).forEach(function (element) { fields[element.name] = element.value; });
    try {
      storage.setItem(PREFIX + key, JSON.stringify(fields));
    } catch (error) {
      // quota exceeded: the server still keeps what is sent; nothing else to do here
    }
  }

  function announceRestored(form, key) {
    var note = document.createElement("p");
    note.className = "draft-restored";
    note.setAttribute("role", "status");
    note.textContent = "Text you had not sent is back in this form. ";
    var discard = document.createElement("button");
    discard.type = "button";
    discard.className = "link";
    discard.textContent = "Discard it";
    discard.addEventListener("click", function () {
      draftFields(form).forEach(function (element) { element.value = renderedValue(element); });
      forget(key);
      note.remove();
    });
    note.appendChild(discard);
    form.parentNode.insertBefore(note, form);
  }

  function restore(form) {
    var key = form.getAttribute("data-draft-key");
    var draft = key && read(key);
    if (!draft || !isPristine(form)) {
      return;
    }
    var changed = false;
    draftFields(form).forEach(function (element) {
      if (typeof draft[element.name] === "string" && draft[element.name] !== element.value) {
        element.value = draft[element.name];
        element.dispatchEvent(new Event("input", { bubbles: true })); // app.js's character counter
        changed = true;
      }
    });
    if (!changed) {
      return;
    }
    var details = form.closest("details");
    if (details) {
      details.open = true;
    }
    form.setAttribute("data-draft-restored", "true");
    announceRestored(form, key);
  }

  document.querySelectorAll("[data-draft-saved]").forEach(function (element) {
    forget(element.getAttribute("data-draft-saved"));
  });
  document.querySelectorAll("form[data-draft-key]").forEach(restore);

  function keepTyping(event) {
    var form = event.target.form;
    if (form && form.hasAttribute("data-draft-key")) {
      remember(form);
    }
  }
  document.addEventListener("input", keepTyping);
  document.addEventListener("change", keepTyping);
})();
