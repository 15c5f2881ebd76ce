// The deal switcher's type-ahead: Ctrl+K (⌘K on macOS) from any page, or the header's button.
// Progressive enhancement of the header's plain form (base.html, #switcher-form): the deals are its
// <select>'s options, already in the server's order (most recently used first, then by name), and
// choosing one submits that same form, so the server decides where the person lands (the same page,
// or the chosen deal's page when they were on a deal's page). Deals beyond the options are searched
// through GET /api/deals?q=. The ARIA combobox pattern (input + listbox, aria-activedescendant) in a
// modal <dialog>; focus goes back where it was when the dialog closes. No inline code: strict CSP.
"use strict";

(function () {
  var form = document.getElementById("switcher-form");
  var select = document.getElementById("switcher-deal");
  var opener = document.querySelector(".switcher-open");
  var header = document.querySelector(".site-header");
  if (header && typeof ResizeObserver === "function") {
    // Anchors and focused fields scroll clear of the sticky header (app.css: scroll-padding-top).
    new ResizeObserver(function () {
      document.documentElement.style.setProperty("--header-height", header.offsetHeight + "px");
    }).observe(header);
  }
  if (!form || !select || !opener || typeof HTMLDialogElement !== "function") {
    return;
  }

  var MAX_SHOWN = 50;
  var SEARCH_DELAY_MS = 200;
  var currentId = select.getAttribute("data-current") || "";
  var total = parseInt(select.getAttribute("data-total"), 10) || 0;
  var known = Array.prototype.filter
    .call(select.options, function (option) { return option.value !== ""; })
    .map(function (option) { return { id: option.value, name: option.text }; });
  var fetched = [];
  var shown = [];
  var active = -1;
  var returnFocusTo = null;
  var searchTimer = null;
  var searchSerial = 0;

  var isMac = /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent || "");
  var key = opener.querySelector(".switcher-key");
  if (key && isMac) {
    key.textContent = "⌘K";
  }

  function element(tag, attributes, text) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) { node.setAttribute(name, attributes[name]); });
    if (text) {
      node.textContent = text;
    }
    return node;
  }

  var dialog = element("dialog", { class: "deal-switcher", "aria-labelledby": "deal-switcher-title" });
  var title = element("label", { id: "deal-switcher-title", for: "deal-switcher-input" }, "Switch to deal");
  var input = element("input", {
    id: "deal-switcher-input",
    type: "text",
    role: "combobox",
    "aria-autocomplete": "list",
    "aria-expanded": "true",
    "aria-controls": "deal-switcher-list",
    "aria-describedby": "deal-switcher-help",
    autocomplete: "off",
    autocapitalize: "off",
    spellcheck: "false",
    placeholder: "Type part of a deal's name",
  });
  var list = element("ul", { id: "deal-switcher-list", role: "listbox", "aria-label": "Deals" });
  var status = element("p", { class: "deal-switcher-status", role: "status" });
  var help = element("p", { id: "deal-switcher-help", class: "deal-switcher-help" },
    "↑ ↓ move · Enter switches · Esc closes");
  var close = element("button", { type: "button", class: "deal-switcher-close secondary" }, "Close");
  var head = element("div", { class: "deal-switcher-head" });
  head.append(title, close);
  dialog.append(head, input, list, status, help);
  document.body.appendChild(dialog);

  function fold(text) {
    // Case- and accent-insensitive matching: "fab" finds "Fabrikam", "cafe" finds "Café".
    return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }

  function matching(query) {
    var needle = fold(query.trim());
    var seen = {};
    var result = [];
    known.concat(fetched).forEach(function (deal) {
      if (!seen[deal.id] && fold(deal.name).indexOf(needle) !== -1) {
        seen[deal.id] = true;
        result.push(deal);
      }
    });
    return result.slice(0, MAX_SHOWN);
  }

  function optionId(deal) {
    return "deal-switcher-option-" + deal.id;
  }

  function render() {
    var query = input.value;
    shown = matching(query);
    list.replaceChildren();
    shown.forEach(function (deal, index) {
      var option = element("li", { id: optionId(deal), role: "option", "aria-selected": "false" });
      option.appendChild(element("span", { class: "deal-switcher-name" }, deal.name));
      if (deal.id === currentId) {
        option.appendChild(element("span", { class: "deal-switcher-current" }, "current"));
      }
      option.addEventListener("mousedown", function (event) { event.preventDefault(); });
      option.addEventListener("click", function () { choose(index); });
      list.appendChild(option);
    });
    var empty = shown.length === 0;
    list.hidden = empty;
    input.setAttribute("aria-expanded", empty ? "false" : "true");
    // With nothing typed the first deal is usually the current one: start on the one before it.
    var start = !query.trim() && shown.length > 1 && shown[0].id === currentId ? 1 : 0;
    move(empty ? -1 : start);
    status.textContent = empty
      ? "No deal matches “" + query.trim() + "”."
      : query.trim()
        ? shown.length + (shown.length === 1 ? " deal matches." : " deals match.")
        : total > known.length
          ? known.length + " of " + total + " deals, most recently used first; type to search them all."
          : shown.length + (shown.length === 1 ? " deal" : " deals") + ", most recently used first.";
  }

  function move(index) {
    var options = list.children;
    if (active >= 0 && options[active]) {
      options[active].setAttribute("aria-selected", "false");
    }
    active = index;
    if (active < 0 || !options[active]) {
      input.removeAttribute("aria-activedescendant");
      return;
    }
    options[active].setAttribute("aria-selected", "true");
    input.setAttribute("aria-activedescendant", options[active].id);
    options[active].scrollIntoView({ block: "nearest" });
  }

  function choose(index) {
    var deal = shown[index];
    if (!deal) {
      return;
    }
    if (!Array.prototype.some.call(select.options, function (option) { return option.value === deal.id; })) {
      select.appendChild(element("option", { value: deal.id }, deal.name));
    }
    select.value = deal.id;
    status.textContent = "Switching to " + deal.name + "…";
    if (form.requestSubmit) {
      form.requestSubmit();
    } else {
      form.submit();
    }
  }

  function searchServer() {
    // Only when the page holds fewer deals than the person may see.
    var query = input.value.trim();
    clearTimeout(searchTimer);
    if (total <= known.length || query.length < 2) {
      return;
    }
    var serial = ++searchSerial;
    searchTimer = setTimeout(function () {
      fetch("/api/deals?limit=" + MAX_SHOWN + "&q=" + encodeURIComponent(query), {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      })
        .then(function (response) {
          if (!response.ok) {
            throw new Error(String(response.status));
          }
          return response.json();
        })
        .then(function (body) {
          if (serial !== searchSerial) {
            return;
          }
          fetched = body.deals.map(function (deal) { return { id: String(deal.id), name: deal.name }; });
          render();
        })
        .catch(function () {
          if (serial === searchSerial) {
            status.textContent = "Could not search all " + total + " deals; showing the ones this page lists.";
          }
        });
    }, SEARCH_DELAY_MS);
  }

  function open() {
    if (dialog.open) {
      return;
    }
    returnFocusTo = document.activeElement;
    input.value = "";
    fetched = [];
    render();
    dialog.showModal();
    input.focus();
  }

  dialog.addEventListener("close", function () {
    clearTimeout(searchTimer);
    searchSerial++;
    var target = returnFocusTo && document.contains(returnFocusTo) ? returnFocusTo : opener;
    returnFocusTo = null;
    if (target && typeof target.focus === "function") {
      target.focus();
    }
  });

  // A click on the backdrop (outside the dialog's box) closes it.
  dialog.addEventListener("click", function (event) {
    if (event.target === dialog) {
      var box = dialog.getBoundingClientRect();
      var inside = event.clientX >= box.left && event.clientX <= box.right &&
        event.clientY >= box.top && event.clientY <= box.bottom;
      if (!inside) {
        dialog.close();
      }
    }
  });

  close.addEventListener("click", function () { dialog.close(); });

  input.addEventListener("input", function () {
    render();
    searchServer();
  });

  input.addEventListener("keydown", function (event) {
    var count = shown.length;
    if (event.key === "ArrowDown" && count) {
      event.preventDefault();
      move((active + 1) % count);
    } else if (event.key === "ArrowUp" && count) {
      event.preventDefault();
      move((active - 1 + count) % count);
    } else if ((event.key === "PageDown" || event.key === "PageUp") && count) {
      event.preventDefault();
      move(event.key === "PageDown" ? count - 1 : 0);
    } else if (event.key === "Enter" && !event.isComposing) {
      event.preventDefault();
      choose(active);
    }
  });

  opener.hidden = false;
  opener.addEventListener("click", open);
  document.documentElement.classList.add("has-switcher");

  document.addEventListener("keydown", function (event) {
    var pressed = event.key === "k" || event.key === "K";
    // ⌘K on macOS only: there Ctrl+K deletes to the end of the line in text fields.
    if (pressed && (isMac ? event.metaKey : event.ctrlKey) && !event.altKey && !event.shiftKey) {
      event.preventDefault();
      if (dialog.open) {
        dialog.close();
      } else {
        open();
      }
    }
  });
})();
