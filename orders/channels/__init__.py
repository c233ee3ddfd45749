"""Channel adapters and the field mapping: one module per platform kind (pull paging, default mapping), and the
one mapping that turns any channel payload into ChannelOrder reports. Pure where it can be: no ORM in mapping."""
