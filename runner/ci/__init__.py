"""CI support: which projects a change touches, the GitLab child pipeline generated from
each project's declared dialect and targets, and the plan posted to a merge request."""
