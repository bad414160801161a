"""Stage 8, course plumbing and commands: the `crlft` command line (`cli`, `commands`), the environment check
(`doctor`), Colab setup (`colab`), exercise checks (`exercises`) and the headless lesson runner (`runner`)."""
