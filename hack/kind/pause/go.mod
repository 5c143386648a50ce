module modelserve.local/pause

go 1.26
