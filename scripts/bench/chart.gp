# docs/bench.svg from report.py's data file (gnuplot 5).
# gnuplot -e "datafile='bench.dat'; outfile='docs/bench.svg'; runs=3" scripts/bench/chart.gp
# Columns: system, up, down, iperf3 (fractions of the ceiling), p50 us, p99 us.

set terminal svg size 1000,440 dynamic font "sans,11" background rgb "white"
set output outfile
set datafile missing "NaN"
if (!exists("runs")) runs = 3
set multiplot layout 1,2 title sprintf("gt on 127.0.0.1, medians of %d runs (scripts/bench.sh)", runs)

set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set xtics rotate by -30 nomirror
set grid ytics
set key top left vertical Left reverse

set title "throughput, one connection, as a fraction of its ceiling\n(loopback iperf3; for mTLS: bare mbedTLS pipe, same cipher)"
set ylabel "fraction of ceiling"
set yrange [0:1.45]
set ytics 0,0.2,1
plot datafile using 2:xtic(1) title "gt-bench up" lc rgb "#4e79a7", \
     '' using 3 title "gt-bench down" lc rgb "#59a14f", \
     '' using 4 title "iperf3" lc rgb "#f28e2b"

set title "round-trip time of 1 KiB (gt-bench latency)"
set ylabel "µs (log scale)"
set logscale y
set yrange [10:*]
set ytics auto
set key top left vertical Left reverse
set arrow 1 from graph 0, first 1000 to graph 1, first 1000 nohead dt 2 lc rgb "#e15759"
set label 1 "p99 target" at graph 0.01, first 1250 left tc rgb "#e15759"
plot datafile using 5:xtic(1) title "p50" lc rgb "#4e79a7", \
     '' using 6 title "p99" lc rgb "#e15759"

unset multiplot
