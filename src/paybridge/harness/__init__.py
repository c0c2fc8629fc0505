"""Demo, demo story and chaos run: besides tests and bench/, the only code that starts the sandboxes.

``demo`` serves both sandboxes in-process and builds the engine through ``app`` like ``serve``;
``story`` drives the storefront and the sandbox clocks and reads every count back from a system;
``chaos`` runs sandboxes and ``paybridge worker`` as processes, with faults and SIGKILLs.
"""
