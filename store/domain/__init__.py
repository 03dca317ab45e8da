"""The words and checks every rule uses: vocabulary, records, refusals, text, secrets."""
