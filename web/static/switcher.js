// The keyboard deal switcher (Ctrl+K / Cmd+K).
// Served as a static file so the pages run under "script-src 'self'".
"use strict";
