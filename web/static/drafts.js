// Keeps what a person typed until the server has it.
// Served as a static file so the pages run under "script-src 'self'".
"use strict";
