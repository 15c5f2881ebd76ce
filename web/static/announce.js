// Announces changes made outside this tab: another tab, another device, another person.
// Served as a static file so the pages run under "script-src 'self'".
"use strict";
