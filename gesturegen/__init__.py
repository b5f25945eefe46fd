"""gesturegen: reproducible co-speech gesture generation (an LDMC re-implementation)."""
__version__ = "0.1.0"
