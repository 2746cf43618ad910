"""A release: from ``[tool.ocipush]`` to a plan, and the plan executed.

Owns: reading and checking the configuration (``config``), the project and its settings
(``project``), this release's wheel and sdist (``distributions``), release-safe tags
(``versions``), which project files a layer may take (``sources``), the immutable plan
(``plan``), making and executing it (``publish``), the hook specifications
(``hookspecs``) and the plugin manager with one typed method per hook (``manager``).
"""
