"""ERP / WMS push adapters: one module per format (QiMen deliveryorder.create, Jushuitan order upload, generic
signed JSON webhook). They build and sign a request from an outbox row and read the answer; the outbox service
decides what is sent, when and how often."""
