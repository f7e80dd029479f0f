"""The engineer's dev loop behind `python -m cicd.dev`: push the working tree's notebooks and
library build into their own environment, pull notebook edits back, and say what differs.

- `target`: whose environment, resolved from the stack config (names shared with the stack);
- `workspace`: credentials, and finding the engineer's cluster;
- `record`: the per-user sync record (state and bases at the last push/pull, git-ignored), and
  its lock;
- `merge`: the workspace's edits applied to a local file (three-way, per cell);
- `notebooks`: the two sides compared, and push/pull of notebooks without silent overwrites;
- `library`: the dev build of the library, uploaded to the dev location and installed.
"""
