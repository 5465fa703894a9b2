import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.lang.reflect.Field;
import java.util.Date;
import java.util.TimeZone;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.quartz.CronExpression;

/**
 * Reference oracle for the differential cron tests: runs the real org.quartz.CronExpression.
 *
 * Reads one case a line from stdin: id TAB expression TAB zone TAB startMillis TAB count.
 * Writes one answer a line: id TAB OK TAB comma-separated fire times in epoch milliseconds,
 * id TAB ERR TAB the parse error, or id TAB HANG when the evaluation did not end in time.
 * The first line written is "MAX_YEAR TAB n", the horizon this Quartz build uses.
 */
public final class QuartzOracle {
    private static ExecutorService pool = newPool();

    private static ExecutorService newPool() {
        return Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r);
            t.setDaemon(true);
            return t;
        });
    }

    public static void main(String[] args) throws Exception {
        PrintStream out = new PrintStream(System.out, false, "UTF-8");
        Field maxYear = CronExpression.class.getDeclaredField("MAX_YEAR");
        maxYear.setAccessible(true);
        out.println("MAX_YEAR\t" + maxYear.get(null));
        out.flush();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, "UTF-8"));
        String line;
        while ((line = in.readLine()) != null) {
            String[] p = line.split("\t", -1);
            if (p.length < 5) {
                continue;
            }
            final String id = p[0];
            final String expr = p[1];
            final String zone = p[2];
            final long start = Long.parseLong(p[3]);
            final int count = Integer.parseInt(p[4]);
            Future<String> f = pool.submit(() -> evaluate(expr, zone, start, count));
            String answer;
            try {
                answer = f.get(2, TimeUnit.SECONDS);
            } catch (TimeoutException e) {
                f.cancel(true);
                pool.shutdownNow();
                pool = newPool();
                answer = "HANG\t";
            } catch (Exception e) {
                answer = "EXC\t" + e.getCause();
            }
            out.println(id + "\t" + answer.replace('\n', ' '));
            out.flush();
        }
    }

    private static String evaluate(String expr, String zone, long start, int count) {
        CronExpression ce;
        try {
            ce = new CronExpression(expr);
        } catch (Exception e) {
            return "ERR\t" + e.getMessage();
        }
        ce.setTimeZone(TimeZone.getTimeZone(zone));
        StringBuilder sb = new StringBuilder("OK\t");
        Date d = new Date(start);
        for (int i = 0; i < count; i++) {
            Date n;
            try {
                n = ce.getNextValidTimeAfter(d);
            } catch (Exception e) {
                return "EXC\t" + e;
            }
            if (n == null) {
                break;
            }
            if (i > 0) {
                sb.append(',');
            }
            sb.append(n.getTime());
            d = n;
        }
        return sb.toString();
    }
}
