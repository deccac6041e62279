"""Helper scripts the CI pipelines (.gitlab-ci.yml, Jenkinsfile) share; stdlib only."""
