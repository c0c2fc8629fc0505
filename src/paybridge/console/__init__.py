"""What the web console reads and does, and ``paybridge trace`` prints: a payment's lineage, the
dead-letter triage desk, and ``ConsoleServices``, the bundle ``paybridge.app`` builds once and
hands to ``paybridge.web.console``. Imports the runtime, ops and security below it; never app,
web, cli, a connector or a capability."""
