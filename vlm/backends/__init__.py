"""Model backends, one module each; heavy dependencies load only when a backend is built."""
