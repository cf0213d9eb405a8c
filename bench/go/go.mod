module spoolbench

go 1.19
