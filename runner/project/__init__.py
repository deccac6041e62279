"""Projects: find ``projects/<name>/``, resolve where it deploys, load its revisions once."""
