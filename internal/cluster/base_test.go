package cluster

// testBase is the fault tests' first port (make test-cluster), clear of
// make cluster's range so that both can run on one machine.
const testBase = 28300
