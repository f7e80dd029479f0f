"""Release content on disk: what a release folder holds (`content`), the digests that make it
immutable (`lock`), building it reproducibly (`build`), bringing it back from git (`restore`),
and everything a stack deploys, checked (`inputs`)."""
