"""geoscribe.review: the Label Studio review loop (issue 14). `client` talks to the server,
`sampling` picks records, `configs` makes the labelling interfaces and predictions, `push`
imports tasks, `apply` and `pull` write the reviewers' verdicts back into the shards,
`quality` states the acceptance rate, `status` prints progress. See docs/review.md."""
