// Readiness probe for scripts/kafka-cluster, run as a single-file program (`java Ready.java`):
// exits 0 once the cluster at BOOTSTRAP answers Metadata (DescribeCluster) with at least BROKERS
// live brokers, 1 if it does not within SECONDS. Uses Kafka's own admin client from the same jars.
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;

public class Ready {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        int brokers = Integer.parseInt(args[1]);
        long deadline = System.currentTimeMillis() + 1000L * Long.parseLong(args[2]);
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "2000");
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "3000");
        props.put(AdminClientConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "200");
        String last = "no answer yet";
        try (Admin admin = Admin.create(props)) {
            while (System.currentTimeMillis() < deadline) {
                try {
                    int live = admin.describeCluster().nodes().get().size();
                    if (live >= brokers) {
                        System.out.println("ready: " + live + " broker(s) answer Metadata at " + bootstrap);
                        return;
                    }
                    last = live + " of " + brokers + " brokers live";
                } catch (Exception e) {
                    last = e.getMessage();
                }
                Thread.sleep(200);
            }
        }
        System.err.println("not ready: " + last);
        System.exit(1);
    }
}
