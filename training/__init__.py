"""Training for both generator families: data sets of clips (`data`), DIS flow cache (`flow`), the schedule
(`schedule`), one trainer (`trainer`), sample strips (`samples`) and checkpoints (`state`)."""
