"""dynamics emulator."""
