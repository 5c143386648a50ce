module modelserve.local/capbnd-runc

go 1.26
