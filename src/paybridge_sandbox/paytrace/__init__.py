"""paytrace emulator."""
