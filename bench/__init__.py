"""Side-by-side benchmark of Paracrine against pyinfra, Ansible and Ansible+Mitogen (see README.md)."""
