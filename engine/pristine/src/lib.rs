// Never built: this package only names the pristine engine crate.
