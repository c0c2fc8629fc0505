"""The chaos run's start-up hook folder (see ``paybridge.harness.chaos_clock``)."""
