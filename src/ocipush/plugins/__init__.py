"""Built-in plugins: ocipush's own features, registered through the same hooks as any other."""
